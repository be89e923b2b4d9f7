from scope_tui.cli import main

raise SystemExit(main())
