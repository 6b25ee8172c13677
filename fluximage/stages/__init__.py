"""The pipeline stages, in order: fov, binning, asphist, instmap, expmap, combine,
threshold, divide.  Each is a pure core on arrays plus a thin wrapper."""
