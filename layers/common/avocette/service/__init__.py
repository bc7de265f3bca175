"""Use cases: each reads and writes through the store and talks to Invoice Cloud, using the pure
rules of avocette.domain. Handlers call these; these never know about HTTP."""
