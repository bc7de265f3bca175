"""Settings, one module per concern (DESIGN §7): each reads its environment variables (and secrets,
through Powertools Parameters) when first loaded, and caches them for the warm Lambda. A handler
loads the groups its function uses and hands them to its use case; importing a module builds
nothing, so a function that never loads a group never validates it, and its role needs none of its
secrets.

- ``base``: what the groups share (the environment's reader, the secret reader, field types).
- ``ledger``: the money rules and the files' formats (any function may load it).
- ``portal``: what payers read (biller name, time zone, where the portal is, who emails come from).
- ``payments``: starting a payment: the session, where Invoice Cloud calls back, the CPV2 options.
- ``postbacks``: how Invoice Cloud's postbacks are read, and from where they may come.
- ``invoicecloud``: calling Invoice Cloud, and its credentials.
- ``registration``: proving accounts: budgets, and the registration values' hash key.
- ``refresh``: Invoice Cloud's balance refresh: its authentication, sources and format, and its credential.
- ``secrets``: the postback key ring.
- ``resources``: the table and buckets the functions write.
"""
