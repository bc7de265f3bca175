"""What the file imports share: the report's pieces (:mod:`.report`) and the streaming run of a CSV
file through a bounded pool of writes (:mod:`.stream`). Each import is an adapter beside them, e.g.
``avocette.service.billing_import``."""
