"""`python -m training.evaluation MODEL_DIR DATASET [options]` (see `training.evaluation.evaluate`)."""

import sys

from .evaluate import main

if __name__ == "__main__":
    sys.exit(main())
