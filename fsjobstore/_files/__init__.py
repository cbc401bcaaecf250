"""The bottom layer: files and records.

``fsio`` is the only module that creates, publishes, reads or removes files;
``layout`` names every folder and file of a store; ``records`` parses and
renders a job's file; ``ids`` makes and checks job ids; ``wakeup`` watches
folders for local changes. Nothing here knows of leases or workflows.
"""
