//! The integration tests: one binary, one shared test environment (`support`).

mod support;

mod bounds;
mod build_script;
mod config_file;
mod configure;
mod docker_helper;
mod doctor;
mod drop_in;
mod e2e_clients;
mod e2e_docker;
mod faults;
mod fuzz;
mod hostile;
mod identity;
mod identity_oracle;
mod kubelet;
mod load;
mod logging;
mod memo;
mod security;
mod trust;
mod version;
