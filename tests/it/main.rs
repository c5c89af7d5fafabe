//! The integration tests: one binary, one shared test environment (`support`).

mod support;

mod build_script;
mod config_file;
mod configure;
mod docker_helper;
mod doctor;
mod e2e_clients;
mod e2e_docker;
mod faults;
mod fuzz;
mod hostile;
mod kubelet;
mod load;
mod logging;
mod security;
mod version;
