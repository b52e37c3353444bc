"""Weight sharing: 1-D k-means codebooks per layer (:mod:`.kmeans`) and the ``cluster`` stage with centroid
fine-tuning (:mod:`.cluster`; Han et al. 2016, Deep Compression)."""
