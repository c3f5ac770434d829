"""A stand-in worker for the launcher's tests: holds `<folder><worker index>/.lock` until stopped.

Usage: python -m tests.lock_holder --strategy=multi_worker FOLDER
"""

import json
import os
import sys
import time

from keras_airn.training.run_state import RunLock

if __name__ == "__main__":
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    RunLock(f"{sys.argv[-1]}{index}")
    print("holding", flush=True)
    time.sleep(600)
