//! Image scanning: what is installed in an image and which known vulnerabilities affect it.
//!
//! * [`version`]: exact version orderings per ecosystem (dpkg, apk, rpm, PEP 440, SemVer, Go).

pub mod version;
