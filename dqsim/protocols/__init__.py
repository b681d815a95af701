"""Protocols: node processes for the event engine (EPR generation, teleportation, TeleGate,
swapping, purification, distributed-circuit programs) and QKD (:mod:`dqsim.protocols.qkd`)."""
