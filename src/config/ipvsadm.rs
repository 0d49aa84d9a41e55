//! ipvsadm's command line.
