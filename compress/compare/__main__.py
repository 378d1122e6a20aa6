from compress.compare.cli import main

raise SystemExit(main())
