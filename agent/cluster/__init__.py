"""The cluster: `callplan worker` on any number of machines, sharing one PostgreSQL database.

procrastinate, a task queue on PostgreSQL, distributes the work: a periodic dispatcher queues a
cycle job for each account that is due, with the account as the job's lock and queueing lock (so
no account ever has two cycles running or waiting anywhere), and the jobs of a worker that died
are found by its missing heartbeat and run again elsewhere. The cycle is the engine's, as in
`callplan run`; the accounts, their pace and the templates come from the database, where
`callplan accounts apply` puts them.
"""
