//! Rootfs assembly from packages and the content-addressed cache.
