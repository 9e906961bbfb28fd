"""ses-relay: names every message still in Postfix's queue, one line each, for the log.

Reads `postqueue -j` on stdin; prints "LEFT IN QUEUE: ID from=<SENDER> to=<RECIPIENT,...>" per
message: the loud record a relay leaves of mail it could not deliver before it went.
Usage: postqueue -j | queue_left.py (Python 3.6+, standard library only).
"""

import json
import sys

for line in sys.stdin:
    message = json.loads(line)
    to = ",".join(r["address"] for r in message.get("recipients", []))
    print(f"LEFT IN QUEUE: {message['queue_id']} from=<{message.get('sender', '')}> to=<{to}>")
