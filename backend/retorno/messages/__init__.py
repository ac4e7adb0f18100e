"""Messages to shoppers by push, e-mail and WhatsApp: the brand's automations and campaigns."""
