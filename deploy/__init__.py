"""Scale-out: the Helm chart and KServe manifests, and a local two-replica cluster that exercises them."""
