"""The vault: all of Causeway's cryptography — keys, MACs, sealed values and certificates."""
