-- PostgreSQL's migration 0005 widens an index its planner needs; SQLite's planner takes the
-- primary key without it. This file keeps the two backends' migration numbers in step.
select 1;
