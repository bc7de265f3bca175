"""The HTTP API's models (DESIGN §3): what the portal sends and reads, camelCase on the wire. They are
built from the domain's values (``domain/``) and carry no rule of their own."""
