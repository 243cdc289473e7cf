//! Process state: the process table (seeded from /proc, kept by fork,
//! exec and exit events), users and groups, container ids and metadata.
