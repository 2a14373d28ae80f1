"""kovirt's API: pydantic models that are the single source of the CRDs.

This layer imports nothing else of kovirt's: Ceph, libvirt, operator and agent code import it.
"""
