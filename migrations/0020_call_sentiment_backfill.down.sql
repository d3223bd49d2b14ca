-- Nothing to undo: 0019's down migration drops the column.
SELECT 1;
