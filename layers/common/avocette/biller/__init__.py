"""The biller's billing system: the files we hand it, in formats that are data (DESIGN §6e)."""
