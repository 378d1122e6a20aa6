from compress.report.cli import main

raise SystemExit(main())
