from compress.baseline.cli import main

raise SystemExit(main())
