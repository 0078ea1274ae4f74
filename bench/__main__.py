"""`make bench`: run every benchmark and print its figures."""

from __future__ import annotations

from bench import access, jobs, vault

if __name__ == "__main__":
    vault.main()
    access.main()
    print()
    jobs.main()
