#ifndef GANTRY_CSYSTEMD_SHIM_H
#define GANTRY_CSYSTEMD_SHIM_H
/* libsystemd's daemon and journal APIs. sd_journal_send is variadic, which Swift cannot
 * call; the Swift side uses sd_journal_sendv with an iovec array. */
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
