from compress.search.cli import main

raise SystemExit(main())
