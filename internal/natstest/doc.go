// Package natstest runs a real nats-server process for tests that need an
// external NATS with a configuration of their own (auth callout, users,
// accounts): its own process on a free loopback port, its files in the
// test's temporary directory, stopped at the end of the test. It never
// touches a NATS server it did not start.
package natstest
