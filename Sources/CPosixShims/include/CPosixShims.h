#ifndef RRSTORE_CPOSIXSHIMS_H
#define RRSTORE_CPOSIXSHIMS_H

/* syncfs(2) is a GNU extension that Swift's Glibc module does not export. Returns 0 or -1
   with errno set; where the call does not exist, falls back to sync(2). */
int rr_syncfs(int fd);

#endif
