"""Reading a user's words into WorkloadSpec fields, one module per concern.

numbers, vocabulary, words, quantities, hardware and places; offline_extractor folds them.
"""
