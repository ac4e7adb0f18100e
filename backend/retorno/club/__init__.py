"""The benefits club: partner offers a brand curates for its shoppers, and each shopper's use of them."""
