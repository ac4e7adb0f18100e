"""Signing in on the web, for both hosts: who is signed in on a request and the guards that keep
pages to the right people (`guards`), and the routes the shopper's app and the admin share
(`routes`: passkeys, the account's forms, signing out). It calls `retorno.auth` for the rules."""
