"""What tests make: stores and tenants, real peers on loopback, clients of the running
service, documents, and deliveries (real or through fakes), a module each."""
