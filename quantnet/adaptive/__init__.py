"""ABN-style adaptive precision: a small policy picks each unit's bit-width per input sample on a frozen
meta-network, trained against the accelerator cost of the configs it picks (decisions.py explains the
decision order)."""
