"""`make bench`: run every benchmark and print its figures; non-zero when the pipeline's configurations
could not both run."""

from __future__ import annotations

from bench import access, apiplat, connections, cpu, jobs, pages, pipeline, vault

if __name__ == "__main__":
    vault.main()
    access.main()
    print()
    connections.main()
    print()
    jobs.main()
    print()
    cpu.main()
    print()
    pages.main()
    print()
    apiplat.main()
    print()
    raise SystemExit(pipeline.main())
