"""The plain AES-GCM floor the vault's sealing is measured against gives back what it sealed."""

from causeway.vault.baseline import raw_seal_and_open


def test_the_bench_floor_opens_what_it_sealed_each_time() -> None:
    operation = raw_seal_and_open(b"a value of some length", b"causeway:bench:associated")
    assert operation() == b"a value of some length"
    assert operation() == b"a value of some length"
