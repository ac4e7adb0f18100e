import sys

from retorno.cli import main

sys.exit(main())
