"""Pre-check items (spec 4.1.6/4.1.7): small named checks, each with its own PASSED/ALARM/FAILED result.

``base`` holds the engine-neutral parts (an item, its outcome, the runner that isolates items from
each other); each engine module (``mysql``) holds the items that query real databases and says,
for every problem it finds, what is wrong and how a DBA fixes it.
"""
