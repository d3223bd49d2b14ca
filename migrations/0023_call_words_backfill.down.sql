-- Nothing to undo: 0022's down migration drops the table.
SELECT 1;
