# A stand-in for your job in an image without a shell: writes its result to $SFN_OUTPUT.
import json
import os
import sys

item = sys.argv[1] if len(sys.argv) > 1 else "nothing"
print(f"job: processing {item}", flush=True)
with open(os.environ["SFN_OUTPUT"], "w") as f:
    json.dump({"processed": item}, f)
