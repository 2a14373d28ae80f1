"""The kovirt operator (kopf): turns kovirt resources into Ceph pools, images and placements.

It records intent and never calls libvirt (KubeVirt's virt-controller split): the node
agent on each host runs the guests. One module per resource, plus placement, status and
the Ceph-facing storage functions.
"""
