//! Opening gRPC channels: over mutual TLS when this process has a TLS
//! identity (`crate::tls::install`), in plain text otherwise (and always
//! in the simulator, whose network is its own).

use tonic::transport::{Channel, Endpoint};

pub async fn connect(endpoint: &Endpoint) -> Result<Channel, tonic::transport::Error> {
    #[cfg(not(madsim))]
    if let Some(tls) = crate::tls::installed() {
        return endpoint
            .connect_with_connector(crate::tls::connector(tls.clone()))
            .await;
    }
    endpoint.connect().await
}

/// A channel that connects when first used.
pub fn connect_lazy(endpoint: &Endpoint) -> Channel {
    #[cfg(not(madsim))]
    if let Some(tls) = crate::tls::installed() {
        return endpoint.connect_with_connector_lazy(crate::tls::connector(tls.clone()));
    }
    endpoint.connect_lazy()
}
