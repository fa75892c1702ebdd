"""Dunning: recovering failed payments. `policy` decides, `cases` records and acts, `notices`
tells the member and ops, `charges` is what a payment gateway must do."""
