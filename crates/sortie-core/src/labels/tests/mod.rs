mod grammar;
mod props;
mod routing;
mod routing_config;
