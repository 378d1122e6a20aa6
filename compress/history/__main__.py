from compress.history.cli import main

raise SystemExit(main())
