//! The integration tests: one binary, one shared test environment (`support`).

mod support;

mod bounds;
mod build_script;
mod cache_scale;
mod causes;
mod config_file;
mod configure;
mod docker_helper;
mod doctor;
mod drop_in;
mod e2e_clients;
mod e2e_docker;
mod edges;
mod failure_memory;
mod faults;
mod fuzz;
mod hostile;
mod identity;
mod identity_oracle;
mod kubelet;
mod layers;
mod load;
mod logging;
mod login;
mod memo;
mod refresh;
mod security;
mod trust;
mod version;
