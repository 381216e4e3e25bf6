"""`python3 -m localcluster serve --dir D ...` runs one API server in the
foreground; hack/local-cluster starts it in the background."""
import sys

from .main import main

sys.exit(main(sys.argv[1:]))
