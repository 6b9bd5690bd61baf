"""Clusters of several nodes: how a node finds the others and forms a cluster with them."""
