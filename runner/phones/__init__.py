"""Phone numbers to E.164: `parse` is the plain reference for one number, `columns` the same rules
over a whole column at a time (held equal to it by tests), `facts` and `patterns` what a number
says of where its owner is (time zones, regions) and what phonenumbers' metadata allows."""
